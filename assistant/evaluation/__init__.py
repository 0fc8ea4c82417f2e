"""Evaluation, outside the run-time pipeline: gold sets and metrics, runs through the service, the LangChain-tutorial
baseline, the LLM judge and reports. Nothing at run time imports it; `policy-qa eval` loads it by name."""
