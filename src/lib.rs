//! AgentLocator: the library behind the `agentlocator` binary.
