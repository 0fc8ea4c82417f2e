"""Stage 7, the faces: the `policy-qa` command line, the JSON API and the Gradio app. Each calls the service only."""
