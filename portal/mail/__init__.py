"""E-mail: composing messages in the recipient's language, and the outbox that sends them."""
