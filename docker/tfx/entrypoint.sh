#!/bin/sh
# Entry point of the notiflow TFX image. One image serves three callers:
#   - Dataflow starts it as its Beam SDK container with the harness flags
#     (--id=... --provision_endpoint=... ...): those go to Beam's boot;
#   - a per-component pod or a Vertex AI job passes run_component's flags
#     (--pipeline engagement --node Trainer --run-id R --end-ds D): those go to
#     `python -m tfx_pipelines.run_component`;
#   - anything else (`python -m tfx_pipelines.run_component ...`, `bash`) runs as given.
set -eu
BEAM_BOOT="${BEAM_BOOT:-/opt/apache/beam/boot}"

for arg in "$@"; do
    case "$arg" in
        --provision_endpoint=* | --provision_endpoint) exec "$BEAM_BOOT" "$@" ;;
    esac
done

case "${1:-}" in
    "") exec python -m tfx_pipelines.run_component --help ;;
    -*) exec python -m tfx_pipelines.run_component "$@" ;;
    *) exec "$@" ;;
esac
