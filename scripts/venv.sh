# Sourced by run.sh and test.sh: the project-local virtual environment `.venv` (created when missing, or
# $FTVM_VENV), activated so that nothing is installed into the caller's Python.
VENV="${FTVM_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install --disable-pip-version-check -q --upgrade "pip>=23"
