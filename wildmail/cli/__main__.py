from wildmail.cli import main

main()
