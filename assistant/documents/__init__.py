"""Stage 1, documents: loaders turn files into text, `structure` finds the headings, `chunking` cuts the text
into verbatim chunks, `items` extracts the policy items (and `refine` lets a language model complete their tags)."""
