package kubeauth

import (
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// Every alias metadata key the plugin sets itself, cluster included, is
// refused as an annotation with the same 400, on a mount with config alone
// (which sets no cluster key) as on one with named clusters, whichever
// cluster the token comes from.
func TestReservedAliasMetadataAnnotations(t *testing.T) {
	reserved := []string{metaSAName, metaSANamespace, metaSASecretName, metaSAUID, metaCluster}
	for _, key := range reserved {
		annotation := aliasMetadataAnnotationPrefix + key
		annotations := map[string]string{annotation: "forged", aliasMetadataAnnotationPrefix + "team": "payments"}

		t.Run("config alone/"+key, func(t *testing.T) {
			e := configured(t)
			e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
			e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, annotations)
			resp, err := e.login(testRole, e.token())
			requireBadRequest(t, resp, err, "would overwrite the reserved alias metadata key "+`"`+key+`"`)
			requireBadRequest(t, resp, err, annotation)
		})

		t.Run("named clusters/"+key, func(t *testing.T) {
			c := newClusterEnv(t, eastIssuer)
			c.writeConfig(map[string]any{"issuer": testkit.Issuer, "use_annotations_as_alias_metadata": true})
			c.writeEast(map[string]any{"issuer": eastIssuer, "use_annotations_as_alias_metadata": true})
			c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
			c.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, annotations)
			c.east.addServiceAccount(testkit.Namespace, testkit.SAName, eastSAUID, annotations)
			for name, tok := range map[string]string{"default": c.defaultToken(), "east": c.eastToken(eastIssuer)} {
				resp, err := c.login(testRole, tok)
				t.Logf("cluster %s", name)
				requireBadRequest(t, resp, err, annotation)
			}
		})
	}

	// The same annotations without a reserved key are copied.
	e := configured(t)
	e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
	e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, map[string]string{aliasMetadataAnnotationPrefix + "clusters": "x"})
	auth := e.mustLogin(testRole, e.token())
	if auth.Alias.Metadata["clusters"] != "x" {
		t.Errorf("alias metadata %v, want clusters=x", auth.Alias.Metadata)
	}
}
