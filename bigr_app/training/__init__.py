"""Training on any ImageFolder tree: the loop (accelerate), then the tokenizer and BiGR stages."""
