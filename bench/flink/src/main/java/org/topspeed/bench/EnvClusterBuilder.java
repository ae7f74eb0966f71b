package org.topspeed.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.ConsistencyLevel;
import com.datastax.driver.core.PlainTextAuthProvider;
import com.datastax.driver.core.QueryOptions;

import org.apache.flink.streaming.connectors.cassandra.ClusterBuilder;

/**
 * Builds the driver's Cluster from the environment when the sink opens (in
 * the task): CASSANDRA_HOSTS (host:port,... default 127.0.0.1:9042),
 * CASSANDRA_USERNAME with PlainTextAuthProvider, the password from the file
 * named by CASSANDRA_PASSWORD_FILE or from CASSANDRA_PASSWORD. Consistency
 * ONE; every other setting is the driver's default. Registers
 * {@link SinkStats#TRACKER} to time each request.
 */
public final class EnvClusterBuilder extends ClusterBuilder {
    private static final long serialVersionUID = 1L;

    @Override
    protected Cluster buildCluster(Cluster.Builder builder) {
        String hosts = System.getenv().getOrDefault("CASSANDRA_HOSTS", "127.0.0.1:9042");
        int defaultPort = Integer.parseInt(System.getenv().getOrDefault("CASSANDRA_PORT", "9042"));
        List<InetSocketAddress> points = new ArrayList<>();
        for (String h : hosts.split(",")) {
            h = h.trim();
            if (h.isEmpty()) {
                continue;
            }
            int colon = h.lastIndexOf(':');
            if (colon > 0 && h.indexOf(':') == colon) {
                points.add(new InetSocketAddress(h.substring(0, colon), Integer.parseInt(h.substring(colon + 1))));
            } else {
                points.add(new InetSocketAddress(h, defaultPort));
            }
        }
        builder.addContactPointsWithPorts(points);
        String user = System.getenv("CASSANDRA_USERNAME");
        if (user != null && !user.isEmpty()) {
            builder.withAuthProvider(new PlainTextAuthProvider(user, password()));
        }
        builder.withQueryOptions(new QueryOptions().setConsistencyLevel(ConsistencyLevel.ONE));
        Cluster cluster = builder.build();
        cluster.register(SinkStats.TRACKER);
        return cluster;
    }

    private static String password() {
        String file = System.getenv("CASSANDRA_PASSWORD_FILE");
        if (file != null && !file.isEmpty()) {
            try {
                return new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.UTF_8).trim();
            } catch (IOException e) {
                throw new IllegalStateException("cannot read CASSANDRA_PASSWORD_FILE " + file + ": " + e.getClass().getSimpleName());
            }
        }
        String pw = System.getenv("CASSANDRA_PASSWORD");
        if (pw == null) {
            throw new IllegalStateException("CASSANDRA_USERNAME is set but neither CASSANDRA_PASSWORD_FILE nor CASSANDRA_PASSWORD");
        }
        return pw;
    }
}
