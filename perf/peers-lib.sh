# Private instances of the peers the benchmarks compare taskwire with
# (source it): Redis and RabbitMQ from Debian's packages, on ports and
# folders of their own, never the system services, stopped by PID.
#
#   peers_wait_port PORT SECONDS         true once 127.0.0.1:PORT accepts
#   peers_redis_start PORT DIR           sets PEERS_REDIS_PID; no persistence
#   peers_rabbitmq_start NODE PORT DIR   a node NODE@localhost on PORT (its
#                                        distribution port PORT + 20000)
#   peers_rabbitmq_stop                  stops the node started above
#   peers_stop                           stops all of the above that run

PEERS_REDIS_PID=
PEERS_RABBIT_NODE=
PEERS_RABBIT_DIR=
PEERS_RABBIT_PID=
PEERS_EPMD_BEFORE=0

peers_wait_port() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

peers_redis_start() { # port dir
	redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
		--dir "$2" >"$2/redis.log" 2>&1 &
	PEERS_REDIS_PID=$!
	peers_wait_port "$1" 20 || { echo "redis did not start:"; tail -5 "$2/redis.log"; return 1; }
}

# The node runs as the rabbitmq user, so its folders are owned by it; it
# reads no configuration and enables no plugins (files that do not exist).
peers_rabbitmq_start() { # node port dir
	local node=$1 port=$2 dir=$3
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "port $port is taken (a RabbitMQ left from another run?)"
		return 1
	fi
	pgrep -x epmd >/dev/null && PEERS_EPMD_BEFORE=1
	mkdir -p "$dir/mnesia" "$dir/log"
	chown -R rabbitmq:rabbitmq "$dir"
	PEERS_RABBIT_NODE=$node@localhost
	PEERS_RABBIT_DIR=$dir
	su rabbitmq -s /bin/sh -c "RABBITMQ_NODENAME=$PEERS_RABBIT_NODE RABBITMQ_NODE_PORT=$port \
		RABBITMQ_DIST_PORT=$((port + 20000)) RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log \
		RABBITMQ_CONFIG_FILE=$dir/none RABBITMQ_ENABLED_PLUGINS_FILE=$dir/plugins \
		HOME=$dir exec rabbitmq-server" >"$dir/rabbitmq.log" 2>&1 &
	PEERS_RABBIT_PID=$!
	peers_wait_port "$port" 180 || { echo "rabbitmq did not start:"; tail -20 "$dir/rabbitmq.log"; return 1; }
}

# The node outlives the shell that started it: ask it to stop, then make sure.
peers_rabbitmq_stop() {
	local dir=$PEERS_RABBIT_DIR i
	[ -n "$dir" ] || return 0
	timeout 60 su rabbitmq -s /bin/sh -c "HOME=$dir rabbitmqctl -n $PEERS_RABBIT_NODE stop" \
		>/dev/null 2>&1
	pkill -u rabbitmq -f "$PEERS_RABBIT_NODE|$dir" 2>/dev/null
	for ((i = 0; i < 100; i++)); do pgrep -f "beam.*$dir" >/dev/null || break; sleep 0.1; done
	pkill -KILL -u rabbitmq -f "$dir" 2>/dev/null
	[ "$PEERS_EPMD_BEFORE" -eq 0 ] && epmd -kill >/dev/null 2>&1
	[ -n "$PEERS_RABBIT_PID" ] && tw_stop_pid "$PEERS_RABBIT_PID"
	pgrep -f "beam.*$dir" >/dev/null && echo "rabbitmq node $PEERS_RABBIT_NODE still running" >&2
	PEERS_RABBIT_DIR=
}

peers_stop() {
	peers_rabbitmq_stop
	[ -n "$PEERS_REDIS_PID" ] && tw_stop_pid "$PEERS_REDIS_PID"
	PEERS_REDIS_PID=
}
