"""The deployment layer: typed config, the desk's supervision tree, process mode, the CLI, status, the demo,
the web dashboard and API, alerts, history."""
