"""The deployment layer: what assembles the whole desk (config, tree, CLI, operator commands)."""
