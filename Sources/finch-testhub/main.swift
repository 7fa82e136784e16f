import FinchTestHub
print("finch-testhub: not yet implemented")
