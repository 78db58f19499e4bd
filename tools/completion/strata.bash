# bash completion for strata: subcommands, their options, and image names from the store.
_strata() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; }
  local cmds="import pull push login logout images ls inspect image lowerdirs mount container
    commit save umount rm prune gc tag history df verify digest chainid bench"
  local i cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --root) ((i++)) ;;
      -*) ;;
      *) cmd=${COMP_WORDS[i]}; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W "$cmds --root --quiet --version --help" -- "$cur"))
    return
  fi
  case $cmd in
    images|ls) COMPREPLY=($(compgen -W "--format --quiet --no-trunc --digests --noheading --filter --sort" -- "$cur")); return ;;
    save) [[ $prev == --format ]] && { COMPREPLY=($(compgen -W "oci-archive docker-archive oci-dir" -- "$cur")); return; } ;;
    commit) [[ $prev == --compression ]] && { COMPREPLY=($(compgen -W "gzip zstd none" -- "$cur")); return; } ;;
    import) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(strata "$cmd" --help 2>/dev/null | grep -o -- '--[a-z-]*' | sort -u)" -- "$cur"))
  else
    local names
    names=$(strata images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>')
    COMPREPLY=($(compgen -W "$names" -- "$cur"))
  fi
}
complete -F _strata strata
