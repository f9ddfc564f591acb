"""Fine-tuning: memory per GPU, activations, parameter counts, time and the planner."""
