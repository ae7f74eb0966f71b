// Prints Flink's TopSpeedWindowing example data to stdout, one record a line.
//
//   java -cp <lib>/flink-examples-streaming-<v>.jar bench/flink/ExtractCarData.java [CAR_DATA|TOP_SPEEDS]
//
// CAR_DATA (default) is the example's input; TOP_SPEEDS is the expected output
// that Flink's own TopSpeedWindowingExampleITCase checked against (from the
// pre-FLIP-27 version of the example). Runs as a single-file source program
// (JDK 11+), reading the constants by reflection from the examples jar.
public class ExtractCarData {
    public static void main(String[] args) throws Exception {
        String field = args.length > 0 ? args[0] : "CAR_DATA";
        Class<?> c = Class.forName(
                "org.apache.flink.streaming.examples.windowing.util.TopSpeedWindowingExampleData");
        String data = (String) c.getField(field).get(null);
        StringBuilder out = new StringBuilder();
        for (String line : data.split("\n")) {
            if (!line.isEmpty()) {
                out.append(line).append('\n');
            }
        }
        System.out.print(out);
    }
}
