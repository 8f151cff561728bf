"""The deployment layer: what assembles the whole desk (config, CLI, web dashboard, alerts, history)."""
