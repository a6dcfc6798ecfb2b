"""What users run: the command line, the server and its Gradio page, and the options they share."""
