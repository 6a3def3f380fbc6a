"""Exercise checkers: `check_xxx(your_function)` tests a reader's solution and explains what is
wrong."""
