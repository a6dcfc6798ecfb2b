"""`python -m bigr_app.train tokenizer|bigr ...`: the training command (`app.train_cli`)."""
from .app.train_cli import main

if __name__ == "__main__":
    main()
