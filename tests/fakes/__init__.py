"""Local fakes of the real exchanges (HTTP servers on 127.0.0.1) for the adapters' tests."""
