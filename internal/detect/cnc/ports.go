package cnc

// Port roles: what a server port is usually for, and how much that says about a C&C server.
const (
	roleService  = "service" // a common client service (web, mail, DNS, NTP...): says nothing
	roleIoT      = "iot"     // an IoT or push service (MQTT, CoAP...): little
	roleRegister = "registered"
	roleUnusual  = "unusual"   // no common service: a C&C server often listens on one
	roleKnownCnC = "known-cnc" // the default port of known botnets and RATs, IRC, telnet
)

// roleWeight is the share of the port_role part each role earns.
var roleWeight = map[string]float64{
	roleService: 0, roleIoT: 0.3, roleRegister: 0.4, roleUnusual: 0.6, roleKnownCnC: 1,
}

// servicePorts are the ports of services subscribers use every day. They include the online
// game services of consoles and PCs (Xbox Live 3074, PlayStation Network 3478-3480, Steam 27015,
// Minecraft 25565): a game server is the textbook look-alike of a C&C server (many subscribers,
// small packets of alike sizes at a steady pace), so its port must not add to the suspicion.
var servicePorts = map[uint16]bool{
	20: true, 21: true, 22: true, 25: true, 53: true, 80: true, 110: true, 123: true, 143: true,
	443: true, 465: true, 587: true, 853: true, 993: true, 995: true, 1935: true, 3074: true,
	3478: true, 3479: true, 3480: true, 5222: true, 5223: true, 5228: true, 8080: true, 8443: true,
	19302: true, 25565: true, 27015: true,
}

var iotPorts = map[uint16]bool{1883: true, 8883: true, 5683: true, 5684: true, 5353: true, 1900: true}

// knownCnCPorts are default ports of families seen in the wild: telnet (Mirai and kin), IRC
// bots, njRAT (1177, 5552), DarkComet (1604), Metasploit (4444), Gh0st (8000 is too common), and
// elite ports.
var knownCnCPorts = map[uint16]bool{
	23: true, 2323: true, 6667: true, 6668: true, 6669: true, 6697: true, 1177: true, 5552: true,
	1604: true, 4444: true, 31337: true,
}

// portRole is the usual role of a server port for a protocol (6 TCP, 17 UDP).
func portRole(port uint16, proto uint8) string {
	switch {
	case proto != 6 && proto != 17:
		return roleService // ICMP and others: no port to tell a role by
	case servicePorts[port]:
		return roleService
	case iotPorts[port]:
		return roleIoT
	case knownCnCPorts[port]:
		return roleKnownCnC
	case port < 1024:
		return roleRegister
	default:
		return roleUnusual
	}
}
