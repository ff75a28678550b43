"""Identity brokering: obtaining, storing and refreshing the credentials Lockgate holds for
users and service accounts."""
