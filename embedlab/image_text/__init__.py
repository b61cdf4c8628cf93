"""Image–caption data for cross-modal retrieval (papers 4 and 7): records, source readers, versioned datasets."""
