"""Composed image retrieval (paper 6, SPN4CIR): the composed-query model on the dual encoder's towers, its two
training stages (in-batch negatives; a static bank of frozen image features), and Recall@K without the reference."""
