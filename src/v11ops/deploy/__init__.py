"""The deploy controller: strategies, the journal, the lock, and the daemon that runs them."""
