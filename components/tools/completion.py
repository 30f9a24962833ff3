"""Shell completion for `fluxfleet`, generated from its argument parser: commands, their options,
the choices of an option, folders after --project/--out/--save, and stack names (the definition
files of the project the shell is in) where a command takes stacks. Pure bash (zsh runs it
through bashcompinit): a tab press never starts Python."""

from __future__ import annotations

import argparse
import shlex

from components.names import CLUSTERS_DIR, REGISTRIES_FILE, REGISTRIES_STACK

# Positionals completed with stack names (STACK: the registries stack too), by their metavar.
STACK_METAVARS = {"STACK": "$(_fluxfleet_stacks all)", "CLUSTER": "$(_fluxfleet_stacks)"}
PATH_OPTIONS = frozenset({"--project", "--out", "--save"})

_FUNCTIONS = r"""
_fluxfleet_project() {
  local dir=${_fluxfleet_dir:-$PWD}
  [[ $dir == /* ]] || dir=$PWD/$dir
  while :; do
    [[ -f $dir/Pulumi.yaml ]] && { printf '%s\n' "$dir"; return 0; }
    [[ -z $dir || $dir == / ]] && return 1
    dir=${dir%/*}
  done
}

_fluxfleet_stacks() {
  local project file name
  project=$(_fluxfleet_project) || return 0
  for file in "$project"/@CLUSTERS@/*.yaml "$project"/@CLUSTERS@/*.yml; do
    [[ -f $file ]] || continue
    name=${file##*/}
    [[ $name == _* ]] && continue
    printf '%s\n' "${name%.*}"
  done
  if [[ $1 == all && -f $project/@CLUSTERS@/@REGISTRIES_FILE@ ]]; then
    printf '%s\n' @REGISTRIES_STACK@
  fi
}
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for its subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and action.help != argparse.SUPPRESS
    )


def _choices(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    return {
        option: [str(c) for c in action.choices]
        for action in parser._actions
        if action.choices and not isinstance(action, argparse._SubParsersAction)
        for option in action.option_strings
    }


def _positional(parser: argparse.ArgumentParser) -> str:
    """What the command's positionals complete with: stacks, a choice list, or nothing."""
    for action in parser._actions:
        if action.option_strings:
            continue
        if action.metavar in STACK_METAVARS:
            return STACK_METAVARS[str(action.metavar)]
        if action.choices:
            return " ".join(str(c) for c in action.choices)
    return ""


def _words(words: list[str]) -> str:
    return shlex.quote(" ".join(words))


def bash(parser: argparse.ArgumentParser) -> str:
    commands = _subcommands(parser)
    cases = []
    for name, sub in commands.items():
        choices = "\n".join(
            f'      {option}) COMPREPLY=($(compgen -W {_words(values)} -- "$cur")); return;;'
            for option, values in sorted(_choices(sub).items())
        )
        positional = _positional(sub)
        cases.append(
            f"    {name})\n"
            f"      case $prev in\n{choices + chr(10) if choices else ''}      esac\n"
            f"      if [[ $cur == -* ]]; then words={_words(_options(sub))}; "
            f'else words="{positional}"; fi;;'
        )
    functions = (
        _FUNCTIONS.replace("@CLUSTERS@", CLUSTERS_DIR)
        .replace("@REGISTRIES_FILE@", REGISTRIES_FILE)
        .replace("@REGISTRIES_STACK@", REGISTRIES_STACK)
    )
    path_options = "|".join(sorted(PATH_OPTIONS))
    return f"""# fluxfleet completion (bash): eval "$(fluxfleet completion bash)"
{functions}
_fluxfleet() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} cmd="" words="" i
  local _fluxfleet_dir=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${{COMP_WORDS[i]}} in
      --project) ((i++)); _fluxfleet_dir=${{COMP_WORDS[i]}};;
      -*) ;;
      *) [[ -z $cmd ]] && cmd=${{COMP_WORDS[i]}};;
    esac
  done
  case $prev in
    {path_options}) COMPREPLY=($(compgen -d -- "$cur")); return;;
  esac
  case $cmd in
    "") words={_words([*commands, *_options(parser)])};;
{chr(10).join(cases)}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _fluxfleet fluxfleet
"""


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` (bash, or zsh through its bash compatibility)."""
    if shell == "zsh":
        return (
            '# fluxfleet completion (zsh): eval "$(fluxfleet completion zsh)"\n'
            "autoload -U +X bashcompinit && bashcompinit\n" + bash(parser)
        )
    return bash(parser)
