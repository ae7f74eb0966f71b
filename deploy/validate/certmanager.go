package validate

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Certificate is the part of cert-manager's cert-manager.io/v1 Certificate
// that deploy/examples/cert-manager uses (raft's mutual TLS). Fields
// outside this subset are rejected by the strict decoder. Field names and
// types follow cert-manager's API.
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              CertificateSpec `json:"spec"`
}

// CertificateSpec is the subset of cert-manager's CertificateSpec.
type CertificateSpec struct {
	SecretName  string                 `json:"secretName"`
	CommonName  string                 `json:"commonName,omitempty"`
	IsCA        bool                   `json:"isCA,omitempty"`
	Duration    string                 `json:"duration,omitempty"`
	RenewBefore string                 `json:"renewBefore,omitempty"`
	DNSNames    []string               `json:"dnsNames,omitempty"`
	Usages      []string               `json:"usages,omitempty"`
	PrivateKey  *CertificatePrivateKey `json:"privateKey,omitempty"`
	IssuerRef   IssuerRef              `json:"issuerRef"`
}

// CertificatePrivateKey is cert-manager's CertificatePrivateKey.
type CertificatePrivateKey struct {
	Algorithm      string `json:"algorithm,omitempty"`
	Size           int    `json:"size,omitempty"`
	Encoding       string `json:"encoding,omitempty"`
	RotationPolicy string `json:"rotationPolicy,omitempty"`
}

// IssuerRef names the issuer of a certificate.
type IssuerRef struct {
	Kind  string `json:"kind,omitempty"`
	Name  string `json:"name"`
	Group string `json:"group,omitempty"`
}

// Issuer is the part of cert-manager's cert-manager.io/v1 Issuer used
// there: a self-signed issuer or a CA issuer.
type Issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              IssuerSpec `json:"spec"`
}

// IssuerSpec is the subset of cert-manager's IssuerConfig.
type IssuerSpec struct {
	SelfSigned *struct{} `json:"selfSigned,omitempty"`
	CA         *struct {
		SecretName string `json:"secretName"`
	} `json:"ca,omitempty"`
}
