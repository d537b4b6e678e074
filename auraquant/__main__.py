from auraquant.cli import main

main()
