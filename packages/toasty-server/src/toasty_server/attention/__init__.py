"""What the person is shown: how many new toasts an agent may put in front of them (the attention budget)."""
