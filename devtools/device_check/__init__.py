"""The one-command GPU check (``scripts/device_check.sh``) and its CPU smoke."""
