"""Re-identification: the Siamese correspondence network, its training and evaluation."""
