package kafka

const childEnv = "TOPSPEED_KAFKA_TEST_CHILD"

func runChild() int { return 2 }
