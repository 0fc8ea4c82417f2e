"""Stage 3, retrieval: hybrid search (BM25 and dense candidates fused by weighted RRF) over the opened index."""
