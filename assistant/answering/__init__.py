"""Stage 4, answering: one `Assistant` retrieves once, then answers with the language model (`llm`) or by
quoting the clauses (`extractive`); `citations` checks every marker against the passages given."""
