from digestbot.cli import main

main()
