from assistant.faces.cli import main

main()
