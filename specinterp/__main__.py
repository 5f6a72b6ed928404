from specinterp.cli import main

main()
