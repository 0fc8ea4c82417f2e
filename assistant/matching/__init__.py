"""Stage 5, matching: an enterprise profile matched to the policy items that apply to it (`matcher`), and a
profile read from a question in everyday words (`intent`)."""
