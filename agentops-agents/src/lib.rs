//! Placeholder until the agents issue: the Chief of Staff and Seed agents live here and use only `agentops-sdk`.
