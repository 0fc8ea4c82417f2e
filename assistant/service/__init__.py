"""Stage 6, the service: the one application layer every face calls (`service`), with the document library
(`library`) and the interpreters' reviews (`reviews`)."""
