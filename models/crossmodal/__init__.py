"""Cross-modal (image–text) retrieval: batches of images with K captions, the Lightning module, teachers, metrics."""
