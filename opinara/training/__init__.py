"""Training: labeled data readers and the trainer of Opinara's opinion model."""
