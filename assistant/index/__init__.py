"""Stage 2, the index: embeddings, the jieba + BM25 lexical index, the stored layout (`store`), the `ingest`
pipeline that builds it, and the `knowledge_base` opened for search. Import the modules, not this package:
it stays empty so that importing `index.lexical` does not load Chroma."""
