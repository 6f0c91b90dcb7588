from opinara.cli import main

main()
