from synthgap.cli import main

main()
