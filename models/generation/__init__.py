"""Text generation back-ends behind one interface (`backend.Backend`): an OpenAI-compatible server or an
in-process Hugging Face model, with a content-addressed response cache in front (`cache`)."""
