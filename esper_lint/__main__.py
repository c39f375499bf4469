from esper_lint.cli import main

main()
