from ctrpy.cli.main import main

main()
