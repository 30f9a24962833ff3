"""The offline plan: the real program under Pulumi's mock runtime (runner, mocks, IAM emulation,
worker processes), and its renderings (text, `pulumi preview --json`, markdown)."""
